"""scim-api: the SCIM 2.0 endpoint (RFC 7643/7644) under ``/scim/v2/{tenant}/``."""

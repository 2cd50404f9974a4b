"""SCIM protocol messages (RFC 7644) apart from the resources they carry: list and ``.search``
requests and list responses, preconditions (ETags), PatchOp with its paths and filters,
attribute projection, and Bulk. Nothing here knows HTTP: the views hand in what they read."""

"""scim_api."""

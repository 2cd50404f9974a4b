"""sso_login."""

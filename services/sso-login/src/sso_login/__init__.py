"""sso-login: SAML 2.0 service provider and OIDC relying party, with JIT provisioning."""

"""Identity and access: principals, hashed API tokens, roles and the actions they allow."""

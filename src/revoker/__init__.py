"""revoker: JWT verification with real revocation."""

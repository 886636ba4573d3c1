"""revoker in a Django + DRF project."""

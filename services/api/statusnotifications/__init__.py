"""statusnotifications resource."""

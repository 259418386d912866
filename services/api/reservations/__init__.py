"""reservations resource."""

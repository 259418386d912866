"""chargepoints resource."""

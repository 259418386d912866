"""chargingprofiles resource."""

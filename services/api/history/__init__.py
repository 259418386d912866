"""history resource."""

"""HTTP API: drop-in dialects of other background-removal APIs and Cutout's own API."""

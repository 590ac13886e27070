"""Request and response models of the API, one module per area; ``common`` holds the shared types."""

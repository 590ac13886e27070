"""One router per area; ``api.app`` mounts them under ``/v1``."""

"""Models of the servicerequests app."""

"""Models of the fulfilment app."""

"""Use cases over the store and the bus."""

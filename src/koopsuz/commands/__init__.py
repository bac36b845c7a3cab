"""CLI command groups, one module each, registered in koopsuz.cli."""

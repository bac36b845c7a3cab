"""Identities, roles and region scope, passwords, audit."""

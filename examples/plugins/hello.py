"""A signed example plugin: importing it prints a greeting."""

print("hello from a signed plugin")

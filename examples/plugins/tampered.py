"""An example plugin that was changed after it was signed."""

print("original, signed content")
print("injected after signing")

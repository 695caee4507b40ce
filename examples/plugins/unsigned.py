"""An unsigned example plugin: sigward denies every open of it."""

print("this line never runs while sigward enforces")

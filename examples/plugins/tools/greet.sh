#!/bin/sh
# A signed example script: executing it is allowed.
echo "hello from a signed script"

#!/bin/sh
echo "features: $GREETING from $(cat /etc/app/built-by)"

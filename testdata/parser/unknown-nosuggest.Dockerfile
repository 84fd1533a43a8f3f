FROM a
XYZZY busybox

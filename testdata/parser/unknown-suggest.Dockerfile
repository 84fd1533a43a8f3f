FROM a
FRM busybox

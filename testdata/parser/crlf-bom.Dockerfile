# syntax=docker/dockerfile:1
FROM busybox
RUN echo a \
  b

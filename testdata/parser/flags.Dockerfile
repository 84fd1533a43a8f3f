FROM a
COPY --chown="a b" --from=x\ y -- --notflag /dst
RUN --mount=type=cache,target=/x "echo" hi
ADD --chmod=644 ["a b", "c"]

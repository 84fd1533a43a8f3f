FROM a
CMD ["a"] # comment
RUN ['a']
ENTRYPOINT ["a", "b"
SHELL ["pwsh", "-c"]
VOLUME ["/a", "/b"]
VOLUME /c /d
CMD []

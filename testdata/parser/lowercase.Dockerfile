from a as b
Run echo
workdir /x
user root
stopsignal SIGKILL
maintainer me <me@x>
expose 80/tcp 443

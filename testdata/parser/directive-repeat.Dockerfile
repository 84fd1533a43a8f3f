# escape=\
# Escape=`
FROM a

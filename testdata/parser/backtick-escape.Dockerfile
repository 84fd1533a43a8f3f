# escape=`
FROM mcr.microsoft.com/windows
RUN dir `
  C:\\ `
  /s
COPY C:\src\ C:\dst\
ENV A=`"q`" B=C:\x

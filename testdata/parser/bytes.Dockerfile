FROM a
RUN echo ÿþ "Â " 

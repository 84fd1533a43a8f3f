FROM a
RUN foo\\
RUN bar \ 	
RUN baz

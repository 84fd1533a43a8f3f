

# just a comment


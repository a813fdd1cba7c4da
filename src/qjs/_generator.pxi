# Generators: the resumption primitive.

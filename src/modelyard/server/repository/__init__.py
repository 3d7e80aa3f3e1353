"""What to serve: the spec every process reads, which versions a rule chooses, resolving references into package
folders, a worker's load and unload, and the registry follower process. The only room of the server that imports
`modelyard.registry`."""

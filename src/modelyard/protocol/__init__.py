"""The Open Inference Protocol V2, shared by the server, the client and the load generator.

The request and response types the data plane sees (`types`), tensors as raw bytes (`tensors`), a V2 body over
HTTP as the server reads and writes it (`http`) and as a caller writes and reads it (`calls`), the JSON reader that
puts tensor data straight into numpy (`jsonbody`), and the gRPC service's generated modules, method table and
converters (`grpc/`). Nothing here imports `modelyard.server`: importing the client must not load a server.
"""

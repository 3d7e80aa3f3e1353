"""gRPC transport of the Open Inference Protocol (generated modules from grpc_predict_v2.proto + the servicer)."""

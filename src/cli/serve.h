// Running the server in the foreground until SIGINT/SIGTERM: shared by
// `lineup serve` and `lineup demo`.
#pragma once

#include "models/model_manifest.h"
#include "server/http_server.h"
#include "server/service.h"

namespace lineup::cli {

// Sets options->host and ->port from --listen HOST:PORT; throws Error otherwise.
void ParseListen(const std::string& listen, HttpServerOptions* options);

void Serve(const ModelManifest& manifest, const ServiceOptions& service_options, const HttpServerOptions& options);

}  // namespace lineup::cli

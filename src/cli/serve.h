// Running the server in the foreground until SIGINT/SIGTERM: shared by
// `lineup serve` and `lineup demo`.
#pragma once

#include "models/model_manifest.h"
#include "server/http_server.h"
#include "server/service.h"

namespace lineup::cli {

void Serve(const ModelManifest& manifest, const ServiceOptions& service_options, const HttpServerOptions& options);

}  // namespace lineup::cli

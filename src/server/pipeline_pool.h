// A fixed set of face pipelines shared by the server's request threads.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/face_pipeline.h"
#include "models/model_manifest.h"

namespace lineup {

// A fixed set of pipelines (each holds its own models: OpenCV DNN nets are
// not safe to share between threads); Acquire blocks until one is free.
class PipelinePool {
 public:
  PipelinePool(const ModelManifest& manifest, const std::string& profile, int size) {
    PipelineOptions options;
    options.profile = profile;
    for (int i = 0; i < std::max(1, size); ++i) free_.push_back(std::make_unique<FacePipeline>(manifest, options));
  }

  class Lease {
   public:
    Lease(PipelinePool& pool, std::unique_ptr<FacePipeline> p) : pool_(pool), pipeline_(std::move(p)) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { pool_.Release(std::move(pipeline_)); }
    FacePipeline& operator*() { return *pipeline_; }
    FacePipeline* operator->() { return pipeline_.get(); }

   private:
    PipelinePool& pool_;
    std::unique_ptr<FacePipeline> pipeline_;
  };

  Lease Acquire() {
    std::unique_lock lock(mu_);
    available_.wait(lock, [&] { return !free_.empty(); });
    std::unique_ptr<FacePipeline> p = std::move(free_.back());
    free_.pop_back();
    return Lease(*this, std::move(p));
  }

 private:
  void Release(std::unique_ptr<FacePipeline> p) {
    {
      std::lock_guard lock(mu_);
      free_.push_back(std::move(p));
    }
    available_.notify_one();
  }

  std::mutex mu_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<FacePipeline>> free_;
};

}  // namespace lineup

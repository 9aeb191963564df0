// One background thread that runs one job at a time: the Batcher hands it the next batch to
// assemble while the caller trains on the current one.
#pragma once

#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

namespace edgestack::data::detail {

class Worker {
public:
    Worker() = default;
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;
    ~Worker() {
        if (!thread_.joinable()) return;
        {
            std::lock_guard lock(m_);
            stop_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }

    /// Starts `job` in the background; a previous job must have been waited for.
    void submit(std::function<void()> job) {
        if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
        {
            std::lock_guard lock(m_);
            job_ = std::move(job);
            busy_ = true;
        }
        cv_.notify_all();
    }

    /// Blocks until the submitted job is done; rethrows what it threw.
    void wait() {
        std::unique_lock lock(m_);
        cv_.wait(lock, [this] { return !busy_; });
        if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
    }

    bool busy() {
        std::lock_guard lock(m_);
        return busy_;
    }

private:
    void loop() {
        std::unique_lock lock(m_);
        for (;;) {
            cv_.wait(lock, [this] { return stop_ || (busy_ && job_); });
            if (stop_) return;
            auto job = std::move(job_);
            job_ = nullptr;
            lock.unlock();
            std::exception_ptr err;
            try {
                job();
            } catch (...) {
                err = std::current_exception();
            }
            lock.lock();
            error_ = err;
            busy_ = false;
            cv_.notify_all();
        }
    }

    std::thread thread_;
    std::mutex m_;
    std::condition_variable cv_;
    std::function<void()> job_;
    std::exception_ptr error_;
    bool busy_ = false;
    bool stop_ = false;
};

} // namespace edgestack::data::detail

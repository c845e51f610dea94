// One deadline-ordered heap of idle-sleep checks per registry, with one clock timer for its
// earliest entry. An idle actor costs 16 bytes here instead of a timer object of its own.

#include "rivetkit/detail/sleep_queue.hpp"

#include <asio/post.hpp>

#include "rivetkit/detail/instance.hpp"

namespace rivetkit::detail {

sleep_queue::sleep_queue(std::shared_ptr<rivetkit::clock> clock, asio::any_io_executor executor)
    : clock_(std::move(clock)), executor_(std::move(executor)) {}

sleep_queue::~sleep_queue() { shutdown(); }

void sleep_queue::shutdown() noexcept {
    std::lock_guard lock(mutex_);
    shut_down_ = true;
    ++timer_gen_;
    if (timer_) {
        timer_->cancel();
        timer_.reset();
    }
}

std::size_t sleep_queue::size() const noexcept {
    std::lock_guard lock(mutex_);
    return heap_.size();
}

bool sleep_queue::queued(const actor_instance& inst) const noexcept {
    std::lock_guard lock(mutex_);
    return inst.sleep_slot_ != actor_instance::sleep_not_queued;
}

void sleep_queue::arm(actor_instance& inst, std::int64_t due_ms) {
    std::lock_guard lock(mutex_);
    if (inst.sleep_slot_ != actor_instance::sleep_not_queued) return;
    heap_.push_back(slot{due_ms, &inst});
    place_locked(heap_.size() - 1);
    sift_up_locked(heap_.size() - 1);
    retime_locked();
}

void sleep_queue::cancel(actor_instance& inst) noexcept {
    std::lock_guard lock(mutex_);
    if (inst.sleep_slot_ == actor_instance::sleep_not_queued) return;
    remove_at_locked(inst.sleep_slot_);
    try {
        retime_locked();
    } catch (...) {
        // The timer could not be restarted (allocation): the one still armed fires early or late
        // and the next fire() retimes.
    }
}

void sleep_queue::fire(std::uint64_t gen) {
    std::vector<std::shared_ptr<actor_instance>> due;
    {
        std::lock_guard lock(mutex_);
        if (gen != timer_gen_ || shut_down_) return;  // superseded by a newer timer
        timer_.reset();
        const std::int64_t now = clock_->now_ms();
        while (!heap_.empty() && heap_.front().due <= now) {
            actor_instance* inst = heap_.front().inst;
            remove_at_locked(0);
            // An instance whose last owner is gone is in its destructor, waiting for this mutex
            // to take itself out: lock() fails and it finds itself no longer queued.
            if (auto strong = inst->weak_from_this().lock()) due.push_back(std::move(strong));
        }
        retime_locked();
    }
    for (auto& inst : due) {
        auto& strand = inst->strand();
        asio::post(strand, [inst = std::move(inst)] { inst->sleep_check(); });
    }
}

void sleep_queue::retime_locked() {
    if (shut_down_) return;
    if (heap_.empty()) {
        if (timer_) {
            ++timer_gen_;
            timer_->cancel();
            timer_.reset();
        }
        return;
    }
    const std::int64_t due = heap_.front().due;
    if (timer_ && timer_due_ == due) return;
    if (timer_) timer_->cancel();
    timer_.reset();
    const std::uint64_t gen = ++timer_gen_;
    timer_due_ = due;
    timer_ = clock_->start_timer(milliseconds(due - clock_->now_ms()), executor_, [this, gen] { fire(gen); });
}

void sleep_queue::place_locked(std::size_t i) { heap_[i].inst->sleep_slot_ = static_cast<std::uint32_t>(i); }

void sleep_queue::sift_up_locked(std::size_t i) {
    while (i > 0) {
        const std::size_t parent = (i - 1) / 2;
        if (heap_[parent].due <= heap_[i].due) break;
        std::swap(heap_[parent], heap_[i]);
        place_locked(i);
        place_locked(parent);
        i = parent;
    }
}

void sleep_queue::sift_down_locked(std::size_t i) {
    const std::size_t n = heap_.size();
    for (;;) {
        std::size_t least = i;
        const std::size_t l = 2 * i + 1;
        const std::size_t r = l + 1;
        if (l < n && heap_[l].due < heap_[least].due) least = l;
        if (r < n && heap_[r].due < heap_[least].due) least = r;
        if (least == i) break;
        std::swap(heap_[least], heap_[i]);
        place_locked(i);
        place_locked(least);
        i = least;
    }
}

void sleep_queue::remove_at_locked(std::size_t i) {
    heap_[i].inst->sleep_slot_ = actor_instance::sleep_not_queued;
    const std::size_t last = heap_.size() - 1;
    if (i != last) {
        heap_[i] = heap_[last];
        heap_.pop_back();
        place_locked(i);
        sift_down_locked(i);
        sift_up_locked(i);
    } else {
        heap_.pop_back();
    }
    // A burst of sleeps must not keep the peak's memory for good.
    if (heap_.capacity() > 64 && heap_.size() < heap_.capacity() / 4) heap_.shrink_to_fit();
}

}  // namespace rivetkit::detail

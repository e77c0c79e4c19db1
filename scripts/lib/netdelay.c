/*
 * Delays every packet of a netfilter queue by a fixed time, for links that tc cannot delay
 * because the kernel lacks the netem qdisc.
 *
 * usage: netdelay QUEUE_NUMBER DELAY_MICROSECONDS
 *
 * An iptables rule sends the packets to the queue, for example
 * "iptables -A INPUT -i lo -j NFQUEUE --queue-num 0 --queue-bypass". Each packet's metadata
 * arrives here, and the packet is accepted once its delay has passed. The delay is the same for every
 * packet, so packets leave in the order they came, and one batch verdict releases every
 * packet that is due. The daemon stops on SIGTERM or SIGINT. The kernel then drops the packets
 * still queued, and the rule's bypass flag lets later packets through undelayed.
 *
 * Build: gcc -O2 -o netdelay netdelay.c -lnetfilter_queue -lnfnetlink
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* Packets held at once; at 1 Gbit/s and 64 KiB GSO packets, 5 ms is about 10 of them. */
#define CAPACITY 65536
#define QUEUE_MAX_LENGTH 20000
#define RECEIVE_BUFFER_BYTES (8 << 20)

struct held {
    uint32_t id;
    int64_t due_ns;
};

static struct held ring[CAPACITY];
static size_t head;
static size_t count;
static int64_t delay_ns;
static volatile sig_atomic_t stopping;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void on_signal(int signal_number) {
    (void) signal_number;
    stopping = 1;
}

static int on_packet(struct nfq_q_handle *queue, struct nfgenmsg *message,
        struct nfq_data *data, void *context) {
    (void) message;
    (void) context;
    struct nfqnl_msg_packet_hdr *header = nfq_get_msg_packet_hdr(data);
    if (header == NULL) {
        return 0;
    }
    uint32_t id = ntohl(header->packet_id);
    if (count == CAPACITY) {
        /* Full: let this packet through at once rather than lose it. */
        fprintf(stderr, "netdelay: %d packets held, passing packet %u undelayed\n",
                CAPACITY, id);
        return nfq_set_verdict(queue, id, NF_ACCEPT, 0, NULL);
    }
    ring[(head + count) % CAPACITY] = (struct held) {id, now_ns() + delay_ns};
    count++;
    return 0;
}

/* Accepts every packet whose time has come; returns the nanoseconds until the next one. */
static int64_t release_due(struct nfq_q_handle *queue) {
    int64_t now = now_ns();
    uint32_t last = 0;
    int any = 0;
    while (count > 0 && ring[head].due_ns <= now) {
        last = ring[head].id;
        any = 1;
        head = (head + 1) % CAPACITY;
        count--;
    }
    if (any && nfq_set_verdict_batch(queue, last, NF_ACCEPT) < 0) {
        fprintf(stderr, "netdelay: verdict for packet %u failed: %s\n", last, strerror(errno));
    }
    return count > 0 ? ring[head].due_ns - now : -1;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: netdelay QUEUE_NUMBER DELAY_MICROSECONDS\n");
        return 2;
    }
    int queue_number = atoi(argv[1]);
    long delay_us = atol(argv[2]);
    if (queue_number < 0 || queue_number > 65535 || delay_us < 0 || delay_us > 10000000) {
        fprintf(stderr, "netdelay: invalid queue number '%s' or delay '%s' (microseconds, at"
                " most 10 s)\n", argv[1], argv[2]);
        return 2;
    }
    delay_ns = (int64_t) delay_us * 1000;

    struct nfq_handle *handle = nfq_open();
    if (handle == NULL) {
        perror("netdelay: nfq_open");
        return 1;
    }
    struct nfq_q_handle *queue = nfq_create_queue(handle, queue_number, on_packet, NULL);
    if (queue == NULL) {
        fprintf(stderr, "netdelay: cannot bind queue %d: %s\n", queue_number, strerror(errno));
        return 1;
    }
    /* Metadata only: the packet id is all a verdict needs. */
    if (nfq_set_mode(queue, NFQNL_COPY_META, 0) < 0
            || nfq_set_queue_maxlen(queue, QUEUE_MAX_LENGTH) < 0) {
        fprintf(stderr, "netdelay: cannot configure queue %d: %s\n", queue_number,
                strerror(errno));
        return 1;
    }
    /* Large segments stay whole, as the link carries them, instead of being split here. */
    if (nfq_set_queue_flags(queue, NFQA_CFG_F_GSO, NFQA_CFG_F_GSO) < 0) {
        fprintf(stderr, "netdelay: kernel rejected NFQA_CFG_F_GSO, segments are split\n");
    }
    nfnl_rcvbufsiz(nfq_nfnlh(handle), RECEIVE_BUFFER_BYTES);

    struct sigaction action = {0};
    action.sa_handler = on_signal;
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);

    int fd = nfq_fd(handle);
    char buffer[65536];
    fprintf(stderr, "netdelay: queue %d, delay %ld us\n", queue_number, delay_us);
    while (!stopping) {
        int64_t wait_ns = release_due(queue);
        struct timespec timeout = {wait_ns / 1000000000, wait_ns % 1000000000};
        struct pollfd poll_fd = {fd, POLLIN, 0};
        int ready = ppoll(&poll_fd, 1, wait_ns < 0 ? NULL : &timeout, NULL);
        if (ready < 0 && errno != EINTR) {
            perror("netdelay: ppoll");
            return 1;
        }
        if (ready <= 0) {
            continue;
        }
        ssize_t length = recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
        if (length < 0 && errno == ENOBUFS) {
            /* The kernel dropped queue messages but keeps their packets queued with no
             * verdict, so TCP sends them again after its retransmission timeout. */
            fprintf(stderr, "netdelay: receive buffer overflow, some packets were lost\n");
            continue;
        }
        if (length < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                continue;
            }
            perror("netdelay: recv");
            return 1;
        }
        nfq_handle_packet(handle, buffer, (int) length);
    }
    nfq_destroy_queue(queue);
    nfq_close(handle);
    return 0;
}

// ioloop: tasks posted from many threads all run, on the loop thread, in
// each poster's order; base_ioloop_call waits; tasks queued before a stop run.
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/ioloop.h"
#include "base/test/check.h"

#define POSTERS 4
#define PER     50000

struct item {
	base_ioloop_task task;
	base_ioloop *loop;
	int poster, seq;
};

static int last_seq[POSTERS];
static atomic_int ran;
static atomic_int off_thread;
static atomic_int out_of_order;

static void run_item(base_ioloop_task *t)
{
	struct item *it = (struct item *)t;
	if (!base_ioloop_on_thread(it->loop))
		atomic_fetch_add(&off_thread, 1);
	// Only the loop thread touches last_seq.
	if (it->seq != last_seq[it->poster] + 1)
		atomic_fetch_add(&out_of_order, 1);
	last_seq[it->poster] = it->seq;
	atomic_fetch_add(&ran, 1);
}

struct poster {
	base_ioloop *loop;
	int id;
	struct item *items;
};

static void *poster_main(void *arg)
{
	struct poster *p = arg;
	for (int i = 0; i < PER; i++) {
		p->items[i] = (struct item){
		    .task.fn = run_item, .loop = p->loop, .poster = p->id, .seq = i + 1};
		base_ioloop_post(p->loop, &p->items[i].task);
	}
	return NULL;
}

static void set_flag(void *arg)
{
	*(int *)arg = 1;
}

int main(void)
{
	char err[128];
	base_ioloop *l;
	CHECK(base_ioloop_create(&l, "test", err, sizeof err) == 0);
	CHECK(base_ioloop_start(l, err, sizeof err) == 0);
	CHECK(!base_ioloop_on_thread(l));

	struct poster ps[POSTERS];
	pthread_t th[POSTERS];
	for (int i = 0; i < POSTERS; i++) {
		ps[i] =
		    (struct poster){.loop = l, .id = i, .items = calloc(PER, sizeof(struct item))};
		pthread_create(&th[i], NULL, poster_main, &ps[i]);
	}
	for (int i = 0; i < POSTERS; i++)
		pthread_join(th[i], NULL);
	int flag = 0;
	base_ioloop_call(l, set_flag, &flag); // FIFO: runs after every task posted above
	CHECK(flag == 1);
	CHECK(atomic_load(&ran) == POSTERS * PER);
	CHECK(atomic_load(&off_thread) == 0);
	CHECK(atomic_load(&out_of_order) == 0);

	// Tasks queued before a stop still run; the loop can be stopped twice.
	struct item tail[3];
	atomic_store(&ran, 0);
	for (int i = 0; i < 3; i++) {
		tail[i] = (struct item){
		    .task.fn = run_item, .loop = l, .poster = 0, .seq = last_seq[0] + 1 + i};
		base_ioloop_post(l, &tail[i].task);
	}
	base_ioloop_stop(l);
	base_ioloop_stop(l);
	CHECK(atomic_load(&ran) == 3);
	base_ioloop_destroy(l);
	for (int i = 0; i < POSTERS; i++)
		free(ps[i].items);
	return check_summary("base_ioloop");
}

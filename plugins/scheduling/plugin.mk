# The scheduling plugin: appointments, waitlist, reminders (see README.md).
# Built by the top-level Makefile into build/plugins/scheduling.so against
# jansson only; slots.c holds the pure logic the unit test links directly.
PLUGIN_SRC_scheduling := plugins/scheduling/scheduling.c \
    plugins/scheduling/migrations.c plugins/scheduling/common.c \
    plugins/scheduling/slots.c plugins/scheduling/availability.c \
    plugins/scheduling/booking.c plugins/scheduling/reminders.c \
    plugins/scheduling/waitlist.c plugins/scheduling/schedule.c \
    plugins/scheduling/setup.c plugins/scheduling/metrics.c \
    plugins/scheduling/demo.c
TEST_EXTRA_SRC_scheduling_slots := plugins/scheduling/slots.c

# atrium-plugin.mk - the SDK's make fragment. In a plugin's Makefile:
#
#   PLUGIN  := myplugin
#   SOURCES := myplugin.c other.c
#   include $(shell pkg-config --variable=makefile atrium-sdk)
#
# Targets: all (PLUGIN.so), install (into the plugin directory, with ui/),
# clean. The plugin links against jansson only, with -z defs so a reference
# to anything else fails here rather than when a practice starts atriumd,
# and exports only its descriptor (-fvisibility=hidden).

CC ?= cc
CFLAGS ?= -O2 -g
ATRIUM_SDK_CFLAGS := $(shell pkg-config --cflags atrium-sdk)
ATRIUM_SDK_LIBS := $(shell pkg-config --libs atrium-sdk)
ATRIUM_PLUGINDIR ?= $(shell pkg-config --variable=plugindir atrium-sdk)
ATRIUM_PLUGIN_CFLAGS := -std=c11 -fPIC -fvisibility=hidden -Wall -Wextra \
                        $(ATRIUM_SDK_CFLAGS)
ATRIUM_PLUGIN_LDFLAGS := -shared -Wl,-z,defs

.PHONY: all install clean
all: $(PLUGIN).so

$(PLUGIN).so: $(SOURCES)
	$(CC) $(CFLAGS) $(ATRIUM_PLUGIN_CFLAGS) $(ATRIUM_PLUGIN_LDFLAGS) \
	    -o $@ $(SOURCES) $(ATRIUM_SDK_LIBS) $(LDLIBS)

install: $(PLUGIN).so
	install -d $(DESTDIR)$(ATRIUM_PLUGINDIR)
	install -m 0644 $(PLUGIN).so $(DESTDIR)$(ATRIUM_PLUGINDIR)/
	if [ -d ui ]; then rm -rf $(DESTDIR)$(ATRIUM_PLUGINDIR)/$(PLUGIN)/ui; \
	    install -d $(DESTDIR)$(ATRIUM_PLUGINDIR)/$(PLUGIN); \
	    cp -r ui $(DESTDIR)$(ATRIUM_PLUGINDIR)/$(PLUGIN)/ui; fi

clean:
	rm -f $(PLUGIN).so

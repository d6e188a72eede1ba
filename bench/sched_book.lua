-- bench/sched_book.lua - wrk script for bench/run.sh's sched_book scenario:
-- every request books a different free slot, as a different signed-in
-- patient, with POST /api/scheduling/appointments.
--
-- Reads, from the environment (bench/run.sh exports them):
--   SCHED_BOOK_SLOTS     file of "PROVIDER_ID TYPE_ID START" lines (free
--                        starts, from bench/sched_seed.py --free-out)
--   SCHED_BOOK_SESSIONS  file of "TOKEN CSRF" lines (patient sessions, from
--                        bench/sched_seed.py --sessions-out)
--   SCHED_BOOK_THREADS   wrk's -t, so each thread takes every Nth slot and
--                        no two requests ask for the same one
-- At the end it prints one line for run.sh:
--   sched_book: created N conflict N other N exhausted N
-- ("exhausted": requests sent after a thread ran out of slots; they repeat
-- its last slot and come back 409, so they are counted apart).
--
-- Not a correctness test: run.sh checks the database afterwards.

local threads = {}
local next_tid = 0

function setup(thread)
	thread:set("tid", next_tid)
	next_tid = next_tid + 1
	table.insert(threads, thread)
end

local function read_lines(env, pattern)
	local path = os.getenv(env)
	local out = {}
	if not path then
		error(env .. " is not set")
	end
	for line in io.lines(path) do
		local a, b, c = line:match(pattern)
		if a then
			table.insert(out, {a, b, c})
		end
	end
	if #out == 0 then
		error(path .. " has no usable lines")
	end
	return out
end

local slots, sessions, origin
local pos, step, sent = 1, 1, 0
created, conflict, other, exhausted = 0, 0, 0, 0

function init(args)
	local nthreads = tonumber(os.getenv("SCHED_BOOK_THREADS") or "1")
	slots = read_lines("SCHED_BOOK_SLOTS", "^(%d+) (%d+) (%S+)$")
	sessions = read_lines("SCHED_BOOK_SESSIONS", "^(%S+) (%S+)$")
	origin = "http://" .. wrk.headers["Host"]
	pos = tid + 1
	step = nthreads
end

function request()
	local s = slots[pos]
	if s then
		pos = pos + step
	else
		s = slots[pos - step] or slots[1]
		exhausted = exhausted + 1
	end
	sent = sent + 1
	local who = sessions[(sent + tid * 7) % #sessions + 1]
	local body = '{"type_id":' .. s[2] .. ',"provider_id":' .. s[1] ..
		',"start":"' .. s[3] .. '"}'
	return wrk.format("POST", "/api/scheduling/appointments", {
		["Content-Type"] = "application/json",
		["Cookie"] = "atrium_session=" .. who[1],
		["X-CSRF-Token"] = who[2],
		["Origin"] = origin,
	}, body)
end

function response(status, headers, body)
	if status == 201 then
		created = created + 1
	elseif status == 409 then
		conflict = conflict + 1
	else
		other = other + 1
	end
end

function done(summary, latency, requests)
	local c, k, o, e = 0, 0, 0, 0
	for _, t in ipairs(threads) do
		c = c + t:get("created")
		k = k + t:get("conflict")
		o = o + t:get("other")
		e = e + t:get("exhausted")
	end
	io.write(string.format(
		"sched_book: created %d conflict %d other %d exhausted %d\n",
		c, k, o, e))
end

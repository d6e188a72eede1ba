atrium.every(5, function()
  atrium.notify{ user_id = 1, kind = "overlap_start" }
  -- the test host runs wf_jobs_run_due from another thread in here
  atrium.lookup("reenter")
end)

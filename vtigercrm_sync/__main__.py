from vtigercrm_sync.cli import main

raise SystemExit(main())
